// GraphQL Code Generator: TypeScript types for this API (README, "Clients" › "Code generation").
// Run from the client project, beside a copy of schema.graphql: npx graphql-codegen --config codegen.ts
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  // The committed schema.graphql of this repository: production turns introspection off.
  schema: "./schema.graphql",
  documents: ["src/**/*.graphql"],
  config: {
    // Amounts stay Decimal strings ("-15.50"): never parse them into floats.
    scalars: { Decimal: "string", DateTime: "string" },
    strictScalars: true,
    // Clients must tolerate enum values added later (ErrorCode, AlertKind, ...).
    enumsAsTypes: true,
    futureProofEnums: true,
  },
  generates: {
    // Every type of the schema, its descriptions as doc comments.
    "src/graphql/schema.ts": { plugins: ["typescript"] },
    // Variables and results of the documents; enums and inputs come from schema.ts (v6 of the
    // plugins would otherwise declare them twice when both write one file).
    "src/graphql/operations.ts": {
      plugins: ["typescript-operations"],
      config: { importSchemaTypesFrom: "./src/graphql/schema.ts" },
    },
  },
};

export default config;
