import { describe, expect, it } from "vitest";
import { formatS3Url, parseS3Url } from "../../../src/adapters/s3/s3-url.js";
import { CodedError } from "../../../src/errors.js";

describe("parseS3Url", () => {
  it.each([
    ["s3://influxdb-prod/pg_dump.gz", { bucket: "influxdb-prod", key: "pg_dump.gz" }],
    [
      "s3://influxdb-prod/catalog_backup_file_lists/2024-08-12T14:00:00+00:00/pg_dump.gz",
      {
        bucket: "influxdb-prod",
        key: "catalog_backup_file_lists/2024-08-12T14:00:00+00:00/pg_dump.gz",
      },
    ],
    ["  s3://a.b-c/dir/with space/x  ", { bucket: "a.b-c", key: "dir/with space/x" }],
  ])("%s", (url, expected) => {
    expect(parseS3Url(url)).toEqual(expected);
    expect(parseS3Url(formatS3Url(expected))).toEqual(expected);
  });

  it.each([
    "https://influxdb-prod/pg_dump.gz",
    "s3://influxdb-prod",
    "s3://influxdb-prod/",
    "s3:///key",
    "s3://Bad_Bucket/key",
    "pg_dump.gz",
  ])("refuses %s with a usage error", (url) => {
    let caught: unknown;
    try {
      parseS3Url(url);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CodedError);
    expect((caught as CodedError).code).toBe("usage");
    expect((caught as CodedError).message).toContain("s3://<bucket>/<key>");
  });
});
