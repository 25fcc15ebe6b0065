// write-log-line-schema.ts — writes log-line.schema.json (JSON Schema 2020-12) from logLineSchema; log-lines.test.ts fails when the file is stale.
import { writeFileSync } from 'node:fs';
import { logLineJsonSchemaText } from '../src/log-line-json-schema.ts';

writeFileSync(new URL('../log-line.schema.json', import.meta.url), logLineJsonSchemaText());
