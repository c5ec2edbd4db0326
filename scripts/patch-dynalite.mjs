#!/usr/bin/env node
/**
 * Teaches dynalite 4 (the local DynamoDB stand-in, node_modules/dynalite) what KCL 3.x asks of it:
 * UpdateTable with GlobalSecondaryIndexUpdates[].Create, on an on-demand table (no
 * ProvisionedThroughput). dynalite validates such a Create (insisting on ProvisionedThroughput) and
 * then ignores it, so KCL 3 never sees its lease-owner index. This patch makes the Create optional
 * in throughput and applies it: the index is added to the table (ACTIVE at once, like dynalite's
 * CreateTable with --createTableMs 0) and filled from the items already there.
 *
 * Idempotent (a marker in each patched file); `make setup` runs it after npm ci. Without dynalite
 * installed it says so and exits 0.
 *
 * @example
 * // node scripts/patch-dynalite.mjs
 */
/* global process */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dynalite = join(root, 'node_modules', 'dynalite');
const MARK = '/* kinesis-streams: GSI Create patch */';

if (!existsSync(join(dynalite, 'package.json'))) {
  process.stderr.write('patch-dynalite: node_modules/dynalite not found; nothing to patch\n');
  process.exit(0);
}

function patch(file, edits) {
  const path = join(dynalite, file);
  let text = readFileSync(path, 'utf8');
  if (text.includes(MARK)) return false;
  for (const [from, to, after = ''] of edits) {
    // The first occurrence of `from` after `after`.
    const start = text.indexOf(after);
    const at = start < 0 ? -1 : text.indexOf(from, start);
    if (at < 0) throw new Error(`patch-dynalite: ${file} does not look like dynalite 4.0.0 (missing ${JSON.stringify(from.slice(0, 60))})`);
    text = text.slice(0, at) + to + text.slice(at + from.length);
  }
  writeFileSync(path, `${MARK}\n${text}`);
  return true;
}

// 1. Validation: Create.ProvisionedThroughput may be absent (on-demand tables). dynalite checks
//    notNull whatever the value, so the key goes.
const validation = patch('validations/updateTable.js', [
  [
    `            ProvisionedThroughput: {
              type: 'FieldStruct<ProvisionedThroughput>',
              notNull: true,
              children: {
                WriteCapacityUnits: {
                  type: 'Long',`,
    `            ProvisionedThroughput: {
              type: 'FieldStruct<ProvisionedThroughput>',
              children: {
                WriteCapacityUnits: {
                  type: 'Long',`,
    `        Create: {`,
  ],
  // UpdateTable's AttributeDefinitions (the new index's key attributes) were not in dynalite's
  // list of accepted fields, so they never reached the action.
  [
    `exports.types = {
`,
    `exports.types = {
  AttributeDefinitions: {
    type: 'List',
    children: {
      type: 'ValueStruct<AttributeDefinition>',
      children: {
        AttributeName: { type: 'String', notNull: true },
        AttributeType: { type: 'String', notNull: true, enum: [ 'B', 'N', 'S' ] },
      },
    },
  },
`,
  ],
]);

// 2. Action: apply each Create (add the index, backfill it), before the table is saved.
const action = patch('actions/updateTable.js', [
  [
    `      tableDb.put(key, table, function (err) {
        if (err) return cb(err)

        setTimeout(function () {`,
    `      var creates = (data.GlobalSecondaryIndexUpdates || []).filter(function (u) { return u.Create }).map(function (u) { return u.Create })
      for (i = 0; i < creates.length; i++) {
        if ((table.GlobalSecondaryIndexes || []).some(function (index) { return index.IndexName == creates[i].IndexName })) {
          return cb(db.validationError('One or more parameter values were invalid: Index already exists: ' + creates[i].IndexName))
        }
      }
      var newIndexes = creates.map(function (c) {
        return {
          IndexName: c.IndexName,
          KeySchema: c.KeySchema,
          Projection: c.Projection,
          IndexStatus: 'ACTIVE',
          IndexSizeBytes: 0,
          ItemCount: 0,
          IndexArn: table.TableArn + '/index/' + c.IndexName,
          ProvisionedThroughput: {
            ReadCapacityUnits: (c.ProvisionedThroughput || {}).ReadCapacityUnits || 0,
            WriteCapacityUnits: (c.ProvisionedThroughput || {}).WriteCapacityUnits || 0,
            NumberOfDecreasesToday: 0,
          },
        }
      })
      if (newIndexes.length) {
        ;(data.AttributeDefinitions || []).forEach(function (def) {
          if (!table.AttributeDefinitions.some(function (d) { return d.AttributeName == def.AttributeName })) table.AttributeDefinitions.push(def)
        })
        table.GlobalSecondaryIndexes = (table.GlobalSecondaryIndexes || []).concat(newIndexes)
      }
      var backfillTable = Object.assign({}, table, { LocalSecondaryIndexes: [], GlobalSecondaryIndexes: newIndexes })
      var backfill = function (done) {
        if (!newIndexes.length) return done()
        db.lazy(store.getItemDb(table.TableName).createValueStream(), done).join(function (items) {
          var next = function (n) {
            if (n >= items.length) return done()
            db.updateIndexes(store, backfillTable, null, items[n], function (err) {
              if (err) return done(err)
              next(n + 1)
            })
          }
          next(0)
        })
      }

      backfill(function (err) {
      if (err) return cb(err)
      tableDb.put(key, table, function (err) {
        if (err) return cb(err)

        setTimeout(function () {`,
  ],
  [
    `        cb(null, { TableDescription: table })
      })
    })
  })`,
    `        cb(null, { TableDescription: table })
      })
      })
    })
  })`,
  ],
]);

if (validation || action) process.stderr.write('patch-dynalite: dynalite now applies GlobalSecondaryIndexUpdates Create (for KCL 3.x)\n');
