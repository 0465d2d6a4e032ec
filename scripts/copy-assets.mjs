// tsc does not copy non-TypeScript files; the SQL migrations ship next to the compiled code.
import { cpSync } from "node:fs";

cpSync("src/db/migrations", "dist/src/db/migrations", { recursive: true });
