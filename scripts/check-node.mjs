// Prints the Node.js version this command runs on and fails unless it is the project's: the
// version of the `node` package in package.json's devDependencies, which `npm install` puts
// first on the PATH of every npm script (node_modules/.bin/node). A different version means the
// command fell back to the system Node, which is not what the tests and the image use.
//
//   node scripts/check-node.mjs [what]     # `what` names the command in the message
import { readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const wanted = pkg.devDependencies?.node;
const running = process.versions.node;
const what = process.argv[2] ?? "this command";
if (running === wanted) {
  console.log(`[node] ${what} runs on Node.js v${running} (${process.execPath})`);
} else {
  console.error(
    `[node] ${what} runs on Node.js v${running} (${process.execPath}), but the project runs on ` +
      `v${wanted}, from the \`node\` package in devDependencies. Run it through npm ` +
      "(`npm test`, `npm start`, `npx vitest run …`), which puts node_modules/.bin first on " +
      "PATH, after `npm ci` has installed that package (`bash scripts/ensure-deps.sh` does).",
  );
  process.exit(1);
}
