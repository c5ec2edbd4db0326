/**
 * A validator for CloudWatch Embedded Metric Format documents, for tests.
 *
 * EMF_SCHEMA is the JSON schema published with the specification ("Specification: Embedded metric
 * format", Amazon CloudWatch User Guide, section "Embedded metric format example and JSON
 * schema"), written out here (the spec has no package on npm). `validateEmf` checks a line against
 * it with ajv, then checks the rules the spec states in prose that the schema does not express:
 * the line is one JSON object; at most 100 metric definitions per directive; every dimension a
 * string member of the root; every metric a number (or an array of at most 100 numbers) on the
 * root; a DimensionSet of at most 9 keys.
 */
import { Ajv } from 'ajv';

const UNIT_PATTERN =
  '^(Seconds|Microseconds|Milliseconds|Bytes|Kilobytes|Megabytes|Gigabytes|Terabytes|Bits|Kilobits|Megabits|Gigabits|Terabits|Percent|Count|Bytes\\/Second|Kilobytes\\/Second|Megabytes\\/Second|Gigabytes\\/Second|Terabytes\\/Second|Bits\\/Second|Kilobits\\/Second|Megabits\\/Second|Gigabits\\/Second|Terabits\\/Second|Count\\/Second|None)$';

const NAME = { type: 'string', pattern: '^(.*)$', minLength: 1, maxLength: 255 };

/** The published EMF JSON schema (structure and constraints as in the specification). */
export const EMF_SCHEMA = {
  type: 'object',
  title: 'Root Node',
  required: ['_aws'],
  properties: {
    _aws: {
      $id: '#/properties/_aws',
      type: 'object',
      title: 'Metadata',
      required: ['Timestamp', 'CloudWatchMetrics'],
      properties: {
        Timestamp: { $id: '#/properties/_aws/properties/Timestamp', type: 'integer', title: 'The Timestamp Schema' },
        CloudWatchMetrics: {
          $id: '#/properties/_aws/properties/CloudWatchMetrics',
          type: 'array',
          title: 'MetricDirectives',
          items: {
            $id: '#/properties/_aws/properties/CloudWatchMetrics/items',
            type: 'object',
            title: 'MetricDirective',
            required: ['Namespace', 'Dimensions', 'Metrics'],
            properties: {
              Namespace: { $id: '#/properties/_aws/properties/CloudWatchMetrics/items/properties/Namespace', title: 'CloudWatch Metrics Namespace', ...NAME },
              Dimensions: {
                $id: '#/properties/_aws/properties/CloudWatchMetrics/items/properties/Dimensions',
                type: 'array',
                title: 'The Dimensions Schema',
                minItems: 1,
                items: {
                  $id: '#/properties/_aws/properties/CloudWatchMetrics/items/properties/Dimensions/items',
                  type: 'array',
                  title: 'DimensionSet',
                  minItems: 0,
                  maxItems: 9,
                  items: { $id: '#/properties/_aws/properties/CloudWatchMetrics/items/properties/Dimensions/items/items', title: 'DimensionReference', ...NAME },
                },
              },
              Metrics: {
                $id: '#/properties/_aws/properties/CloudWatchMetrics/items/properties/Metrics',
                type: 'array',
                title: 'MetricDefinitions',
                items: {
                  $id: '#/properties/_aws/properties/CloudWatchMetrics/items/properties/Metrics/items',
                  type: 'object',
                  title: 'MetricDefinition',
                  required: ['Name'],
                  properties: {
                    Name: { $id: '#/properties/_aws/properties/CloudWatchMetrics/items/properties/Metrics/items/properties/Name', title: 'MetricName', ...NAME },
                    Unit: { $id: '#/properties/_aws/properties/CloudWatchMetrics/items/properties/Metrics/items/properties/Unit', type: 'string', title: 'MetricUnit', pattern: UNIT_PATTERN },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: false });
const schemaCheck = ajv.compile(EMF_SCHEMA);

/** The problems of one EMF line (empty when it is valid). */
export function validateEmf(line: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch (err) {
    return [`not JSON: ${(err as Error).message}`];
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return ['the root is not an object'];
  if (!schemaCheck(doc)) return (schemaCheck.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
  const root = doc as Record<string, unknown> & { _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][]; Metrics: Array<{ Name: string }> }> } };
  const problems: string[] = [];
  for (const d of root._aws.CloudWatchMetrics) {
    if (d.Metrics.length > 100) problems.push(`${d.Metrics.length} metric definitions (at most 100)`);
    for (const set of d.Dimensions) {
      for (const key of set) if (typeof root[key] !== 'string') problems.push(`dimension ${key} is not a string member of the root`);
    }
    for (const m of d.Metrics) {
      const v = root[m.Name];
      const ok = (typeof v === 'number' && Number.isFinite(v)) || (Array.isArray(v) && v.length <= 100 && v.every((x) => typeof x === 'number' && Number.isFinite(x)));
      if (!ok) problems.push(`metric ${m.Name} is not a number (or an array of at most 100 numbers) on the root: ${JSON.stringify(v)}`);
    }
  }
  return problems;
}

/** Parses a file of EMF lines, asserting each one is valid; returns the documents. */
export function parseEmfLines(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const problems = validateEmf(line);
    if (problems.length > 0) throw new Error(`invalid EMF line: ${problems.join('; ')}\n${line}`);
    out.push(JSON.parse(line) as Record<string, unknown>);
  }
  return out;
}

/** The sum of metric `name` over documents (0 where absent). */
export function total(docs: ReadonlyArray<Record<string, unknown>>, name: string): number {
  return docs.reduce((sum, d) => sum + (typeof d[name] === 'number' ? (d[name] as number) : 0), 0);
}
