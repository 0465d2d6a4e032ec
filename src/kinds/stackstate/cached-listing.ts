import type { ListPage, ObjectStore } from "../../adapters/s3/object-store.js";
import { listAllPages } from "./list-all.js";

/**
 * A delimited listing of one folder kept between listings, so a folder with thousands of
 * entries (a year of hourly Victoria Metrics versions: 9 pages of 1,000) is not listed page by
 * page every time. S3 lists in key order and dated names sort oldest first, so what changes is
 * at the ends: new versions after the newest, retention deleting the oldest. A warm listing
 * re-lists, at once,
 * - the tail: every entry after the newest {@link TAIL_ENTRIES} cached ones' predecessor, to
 *   the end (new versions, and the newest ones deleted or rewritten);
 * - the head: the first page (what retention deleted);
 * - one page of the middle, in turn (the page after the previous turn's), so an entry deleted
 *   or added by hand between them is seen within as many listings as the middle has pages.
 * Each re-listed range replaces what the cache held for it. A folder of at most
 * {@link TAIL_ENTRIES} entries is simply listed again.
 */
export interface CachedFolder {
  /** Folders and objects directly under the prefix, in key order. */
  entries: ListingEntry[];
  /** The key after which the next turn's middle page starts; undefined: after the head page. */
  middleCursor: string | undefined;
}

export interface ListingEntry {
  key: string;
  /** A common prefix (a folder); otherwise an object. */
  folder: boolean;
  object?: ListPage["objects"][number];
}

/** By `<bucket>/<prefix>`. */
export type FolderListingCache = Map<string, CachedFolder>;

/** Entries the tail re-lists in one page, leaving room on it for new ones. */
export const TAIL_ENTRIES = 900;
const PAGE = 1000;

interface Relisted {
  /** The listing started after this key (undefined: from the start). */
  after: string | undefined;
  /** Last key the listing covered; undefined when it reached the end. */
  through: string | undefined;
  entries: ListingEntry[];
  requests: number;
}

function entriesOf(page: Pick<ListPage, "prefixes" | "objects">): ListingEntry[] {
  const entries: ListingEntry[] = [
    ...page.prefixes.map((key) => ({ key, folder: true })),
    ...page.objects.map((object) => ({ key: object.key, folder: false, object })),
  ];
  return entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Lists after `after` (S3's StartAfter), one page or to the end. A folder `a/b/` given as
 * `after` is listed again (its keys sort after it), so the range covered includes it.
 */
async function relist(
  store: ObjectStore,
  bucket: string,
  prefix: string,
  after: string | undefined,
  onePage: boolean,
): Promise<Relisted> {
  if (!onePage && after === undefined) {
    const all = await listAllPages(store, bucket, prefix);
    return { after, through: undefined, entries: entriesOf(all), requests: all.requests };
  }
  const entries: ListingEntry[] = [];
  let requests = 0;
  let token: string | undefined;
  do {
    const page = await store.listPrefixes(bucket, prefix, "/", {
      maxKeys: PAGE,
      ...(token !== undefined
        ? { continuationToken: token }
        : after !== undefined
          ? { startAfter: after }
          : {}),
    });
    requests++;
    entries.push(...entriesOf(page));
    token = page.nextToken;
  } while (token !== undefined && !onePage);
  const through = token === undefined ? undefined : entries[entries.length - 1]?.key;
  return { after, through, entries, requests };
}

/** First index whose key is > key (or ≥ key when `inclusive`). */
function indexAfter(entries: readonly ListingEntry[], key: string, inclusive: boolean): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const k = entries[mid]!.key;
    if (k < key || (!inclusive && k === key)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Replaces the cached entries in the range a re-listing covered with what it found. */
function merge(entries: ListingEntry[], relisted: Relisted): ListingEntry[] {
  const from =
    relisted.after === undefined
      ? 0
      : // A folder given as StartAfter comes back when it still exists: its own slot is covered.
        indexAfter(entries, relisted.after, relisted.after.endsWith("/"));
  const to =
    relisted.through === undefined ? entries.length : indexAfter(entries, relisted.through, false);
  return [...entries.slice(0, from), ...relisted.entries, ...entries.slice(Math.max(from, to))];
}

/**
 * The folders and objects directly under `prefix`, from the cache where it cannot have changed
 * unseen (see {@link CachedFolder}), with the S3 requests made.
 */
export async function listFolderCached(
  store: ObjectStore,
  bucket: string,
  prefix: string,
  cache: FolderListingCache | undefined,
): Promise<{ prefixes: string[]; objects: ListPage["objects"]; requests: number }> {
  const cacheKey = `${bucket}/${prefix}`;
  const cached = cache?.get(cacheKey);
  let entries: ListingEntry[];
  let requests = 0;
  let middleCursor: string | undefined;
  if (cached === undefined || cached.entries.length <= TAIL_ENTRIES) {
    const all = await relist(store, bucket, prefix, undefined, false);
    entries = all.entries;
    requests = all.requests;
  } else {
    const old = cached.entries;
    const tailAfter = old[old.length - TAIL_ENTRIES - 1]!.key;
    const headThrough = old[Math.min(PAGE, old.length) - 1]!.key;
    // The middle lies between the head page and the tail; its turn starts where the last ended.
    let middleAfter: string | undefined;
    if (headThrough < tailAfter) {
      const cursor = cached.middleCursor;
      middleAfter =
        cursor !== undefined && cursor > headThrough && cursor < tailAfter ? cursor : headThrough;
    }
    const [head, middle, tail] = await Promise.all([
      relist(store, bucket, prefix, undefined, true),
      middleAfter === undefined ? undefined : relist(store, bucket, prefix, middleAfter, true),
      relist(store, bucket, prefix, tailAfter, false),
    ]);
    entries = old;
    for (const r of [head, middle, tail]) {
      if (r === undefined) continue;
      entries = merge(entries, r);
      requests += r.requests;
    }
    middleCursor = middle?.through;
  }
  cache?.set(cacheKey, { entries, middleCursor });
  return {
    prefixes: entries.filter((e) => e.folder).map((e) => e.key),
    objects: entries.flatMap((e) => (e.object === undefined ? [] : [e.object])),
    requests,
  };
}
