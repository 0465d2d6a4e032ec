import type { ObjectStore } from "../../adapters/s3/object-store.js";
import { asCodedError } from "../../errors.js";
import { mapWithConcurrency } from "../../recovery-points/concurrency.js";
import { parseClickHouseMetadata } from "./clickhouse-points.js";
import { callElasticsearch } from "./elasticsearch-http.js";
import { elasticsearchPointFrom } from "./elasticsearch-points.js";
import { asFolder } from "./list-all.js";
import type { StackStateReaders } from "./list-stackstate-points.js";
import { VMBACKUP_COMPLETE_MARKER } from "./metrics-points.js";
import type { StackStatePoint, StackStateStoresConfig } from "./points.js";

export interface StackStateVerification {
  ok: boolean;
  /** What was checked, for people: "3 objects, 1.2 MB, all readable". */
  checked: string[];
  /** What is wrong; empty when ok. */
  problems: string[];
  requests: number;
}

/** Reads the first byte: proves the object exists, is not empty and may be read. */
async function readable(
  store: ObjectStore,
  bucket: string,
  key: string,
): Promise<string | undefined> {
  try {
    const { body } = await store.getStream(bucket, key, { start: 0, end: 0 });
    for await (const _ of body) break;
    body.destroy();
    return undefined;
  } catch (err) {
    return `s3://${bucket}/${key} cannot be read (${asCodedError(err).message})`;
  }
}

async function readAll(
  store: ObjectStore,
  bucket: string,
  prefix: string,
): Promise<{ keys: string[]; bytes: number; problems: string[]; requests: number }> {
  const keys: string[] = [];
  let bytes = 0;
  let requests = 0;
  for await (const object of store.listObjects(bucket, prefix)) {
    keys.push(object.key);
    bytes += object.size;
  }
  requests += Math.max(1, Math.ceil(keys.length / 1000));
  const problems = (
    await mapWithConcurrency(keys, 8, async (key) => {
      requests++;
      return readable(store, bucket, key);
    })
  ).filter((p): p is string => p !== undefined);
  return { keys, bytes, problems, requests };
}

/**
 * `verify` of one StackState point, per store: StackGraph's files are readable; a Victoria
 * Metrics version is complete and every file in it readable; a ClickHouse backup's whole
 * chain is present (each link's metadata.json parses and its files are readable); an
 * Elasticsearch snapshot is SUCCESS and holds indices.
 */
export async function verifyStackStatePoint(
  point: StackStatePoint,
  stores: StackStateStoresConfig,
  readers: StackStateReaders,
): Promise<StackStateVerification> {
  const checked: string[] = [];
  const problems: string[] = [];
  let requests = 0;
  const objectStore = (): ObjectStore => {
    if (readers.objectStore === undefined) throw new Error("no object store was given");
    return readers.objectStore;
  };
  switch (point.store) {
    case "stackgraph": {
      const bucket = stores.stackgraph!.bucket;
      const results = await mapWithConcurrency(point.keys, 4, (key) =>
        readable(objectStore(), bucket, key),
      );
      requests += point.keys.length;
      problems.push(...results.filter((p): p is string => p !== undefined));
      checked.push(
        `${point.keys.length} file${point.keys.length === 1 ? "" : "s"}, ${point.sizeBytes} bytes`,
      );
      if (point.notRestorable !== undefined) problems.push(point.notRestorable);
      break;
    }
    case "metrics": {
      const config = stores.metrics!;
      const folder = `${asFolder(config.prefix)}${point.name}/`;
      requests++;
      const marker = await objectStore().head(
        config.bucket,
        `${folder}${VMBACKUP_COMPLETE_MARKER}`,
      );
      if (marker === undefined)
        problems.push(
          `${VMBACKUP_COMPLETE_MARKER} is missing: vmbackup did not complete this version`,
        );
      const all = await readAll(objectStore(), config.bucket, folder);
      requests += all.requests;
      if (all.keys.length <= 1) problems.push("the version holds no data files");
      problems.push(...all.problems);
      checked.push(
        `${all.keys.length} files, ${all.bytes} bytes, completed ${marker?.lastModified.toISOString() ?? "never"}`,
      );
      break;
    }
    case "clickhouse": {
      const config = stores.clickhouse!;
      const root = asFolder(config.prefix);
      for (const link of point.chain) {
        const key = `${root}${link}/metadata.json`;
        try {
          requests++;
          const { body } = await objectStore().getStream(config.bucket, key);
          const chunks: Buffer[] = [];
          for await (const chunk of body) chunks.push(chunk as Buffer);
          parseClickHouseMetadata(
            Buffer.concat(chunks).toString("utf8"),
            `s3://${config.bucket}/${key}`,
          );
        } catch (err) {
          problems.push(`${link}: ${asCodedError(err).message}`);
          continue;
        }
        const all = await readAll(objectStore(), config.bucket, `${root}${link}/`);
        requests += all.requests;
        problems.push(...all.problems.map((p) => `${link}: ${p}`));
        checked.push(`${link}: ${all.keys.length} files, ${all.bytes} bytes`);
      }
      if (point.notRestorable !== undefined) problems.push(point.notRestorable);
      break;
    }
    case "elasticsearch": {
      const config = stores.elasticsearch!;
      if (readers.elasticsearch === undefined)
        throw new Error("no Elasticsearch connection was given");
      requests++;
      const body = (await callElasticsearch(
        readers.elasticsearch,
        {
          method: "GET",
          path: `_snapshot/${encodeURIComponent(config.repository)}/${encodeURIComponent(point.name)}`,
        },
        `read snapshot "${point.name}"`,
      )) as { snapshots?: unknown[] };
      const now = elasticsearchPointFrom((body.snapshots?.[0] ?? {}) as never);
      if (now === undefined)
        problems.push(`snapshot "${point.name}" is no longer in repository "${config.repository}"`);
      else {
        if (now.notRestorable !== undefined) problems.push(now.notRestorable);
        checked.push(
          `state ${now.state}, ${now.indices.length} indices, ${now.shards.successful}/${now.shards.total} shards`,
        );
      }
      break;
    }
  }
  return { ok: problems.length === 0, checked, problems, requests };
}
