#!/usr/bin/env node
// Regenerates src/api-types.ts from the server's OpenAPI schema (drf-spectacular), or checks it.
//
//   node scripts/gen-api-types.mjs                 # runs `manage.py spectacular` in the repository
//   node scripts/gen-api-types.mjs schema.json     # from a schema file (openapi-json)
//   node scripts/gen-api-types.mjs --check [FILE]  # exit 1 if src/api-types.ts differs (drift)
//
// PYTHON (default: python3, or the repository's .venv) runs manage.py when no file is given.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, "..");
const repo = resolve(pkg, "../..");
const target = join(pkg, "src", "api-types.ts");

const args = process.argv.slice(2);
const check = args.includes("--check");
const file = args.find((a) => !a.startsWith("--"));

function schemaFromServer() {
  const dir = mkdtempSync(join(tmpdir(), "optimus-schema-"));
  const out = join(dir, "schema.json");
  const venv = join(repo, ".venv", "bin", "python");
  const python = process.env.PYTHON || (existsSync(venv) ? venv : "python3");
  try {
    execFileSync(python, ["manage.py", "spectacular", "--format", "openapi-json", "--file", out], {
      cwd: repo,
      stdio: ["ignore", "ignore", "inherit"],
    });
    return readFileSync(out, "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const HEADER = `/**
 * GENERATED from the Optimus server's OpenAPI schema (drf-spectacular) by openapi-typescript.
 * Do not edit: run \`npm run gen:api\` in sdk/react-native after changing the API.
 * tests/test_sdk_e2e.py regenerates it from the server and fails when it has drifted.
 */

`;

// Prose (descriptions, summaries, examples) is dropped first: only the contract (paths, methods,
// fields, types, enums, what is required) decides drift, not a reworded help text.
const PROSE = new Set(["description", "summary", "examples", "example", "title", "externalDocs"]);
function contractOnly(node, parentKey) {
  if (Array.isArray(node)) return node.map((v) => contractOnly(v, undefined));
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    // A key inside `properties` (or `paths`, `schemas`…) is a name, not a prose keyword.
    const isName = parentKey === "properties" || parentKey === "schemas" || parentKey === "paths";
    if (!isName && PROSE.has(key)) continue;
    out[key] = contractOnly(value, key);
  }
  return out;
}

const text = file ? readFileSync(file, "utf8") : schemaFromServer();
if (!text.trimStart().startsWith("{")) {
  console.error("give the schema as JSON: manage.py spectacular --format openapi-json --file schema.json");
  process.exit(2);
}
const parsed = JSON.parse(text);
const schema = contractOnly(parsed, undefined);
schema.info = { title: parsed.info?.title ?? "Optimus API", version: parsed.info?.version ?? "" };
// defaultNonNullable: false — a field with a server-side default is optional to send (openapi-typescript
// 7 would otherwise make it required in request bodies too).
const ast = await openapiTS(schema, { defaultNonNullable: false });
const generated = HEADER + astToString(ast);

if (check) {
  const current = existsSync(target) ? readFileSync(target, "utf8") : "";
  if (current !== generated) {
    const a = current.split("\n");
    const b = generated.split("\n");
    let line = 0;
    while (line < a.length && a[line] === b[line]) line++;
    console.error(
      `src/api-types.ts is out of date with the server's OpenAPI schema (first difference at line ${line + 1}):\n` +
        `  committed: ${JSON.stringify(a[line] ?? "<end of file>")}\n` +
        `  schema:    ${JSON.stringify(b[line] ?? "<end of file>")}\n` +
        "Run `npm run gen:api` in sdk/react-native, then fix what no longer type-checks.",
    );
    process.exit(1);
  }
  console.log("src/api-types.ts matches the server's OpenAPI schema");
} else {
  writeFileSync(target, generated);
  console.log(`wrote ${target}`);
}
