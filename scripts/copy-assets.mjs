// tsc does not copy non-TypeScript files; the SQL migrations and the demo console's static
// files ship next to the compiled code.
import { cpSync } from "node:fs";

cpSync("src/db/migrations", "dist/src/db/migrations", { recursive: true });
cpSync("src/demo/console/static", "dist/src/demo/console/static", { recursive: true });
