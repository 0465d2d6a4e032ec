import type { ListPage, ObjectStore } from "../../adapters/s3/object-store.js";

/** Every page of a delimited listing, gathered: the folders and the objects under `prefix`. */
export async function listAllPages(
  store: ObjectStore,
  bucket: string,
  prefix: string,
  delimiter = "/",
): Promise<{ prefixes: string[]; objects: ListPage["objects"]; requests: number }> {
  const prefixes: string[] = [];
  const objects: ListPage["objects"] = [];
  let token: string | undefined;
  let requests = 0;
  do {
    const page = await store.listPrefixes(
      bucket,
      prefix,
      delimiter,
      token === undefined ? {} : { continuationToken: token },
    );
    requests++;
    prefixes.push(...page.prefixes);
    objects.push(...page.objects);
    token = page.nextToken;
  } while (token !== undefined);
  return { prefixes, objects, requests };
}

/** `a/b/` → `a/b/`, `a/b` → `a/b/`, `` → ``. */
export function asFolder(prefix: string | undefined): string {
  if (prefix === undefined || prefix === "") return "";
  return prefix.endsWith("/") ? prefix : `${prefix}/`;
}
