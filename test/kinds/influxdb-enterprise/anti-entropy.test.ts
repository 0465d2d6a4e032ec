import { describe, expect, it } from "vitest";
import {
  isAntiEntropyEnabled,
  withAntiEntropyDisabled,
} from "../../../src/kinds/influxdb-enterprise/anti-entropy.js";

const CONF = `reporting-disabled = false
bind-address = ":8088"

[hinted-handoff]
  enabled = true   # hinted handoff stays on
  dir = "/var/lib/influxdb/hh"

[anti-entropy]
  # Determines whether the service is enabled.
  # enabled = false
  enabled = true # turned on by ops
  check-interval = "5m"
  max-fetch = 10

[[graphite]]
  enabled = true
`;

describe("anti-entropy in influxdb.conf", () => {
  it("turns enabled off in [anti-entropy] only, keeping indentation, comments and everything else", () => {
    expect(isAntiEntropyEnabled(CONF)).toBe(true);
    const off = withAntiEntropyDisabled(CONF);
    expect(isAntiEntropyEnabled(off)).toBe(false);
    expect(off).toBe(
      CONF.replace("  enabled = true # turned on by ops", "  enabled = false # turned on by ops"),
    );
    // the other tables' enabled keys are untouched
    expect(off).toContain("[hinted-handoff]\n  enabled = true   # hinted handoff stays on");
    expect(off).toContain("[[graphite]]\n  enabled = true");
    // idempotent
    expect(withAntiEntropyDisabled(off)).toBe(off);
  });

  it("adds the key under the header when the table does not have it", () => {
    const conf = `[anti-entropy]
    check-interval = "5m"
[monitor]
  enabled = true
`;
    expect(isAntiEntropyEnabled(conf)).toBe(true);
    const off = withAntiEntropyDisabled(conf);
    expect(off).toBe(`[anti-entropy]
    enabled = false
    check-interval = "5m"
[monitor]
  enabled = true
`);
    expect(isAntiEntropyEnabled(off)).toBe(false);
  });

  it("appends the table when the file has none, and reads a missing key as possibly on", () => {
    const conf = `[monitor]\n  store-enabled = true`;
    expect(isAntiEntropyEnabled(conf)).toBe(true);
    const off = withAntiEntropyDisabled(conf);
    expect(off).toBe(`[monitor]\n  store-enabled = true\n\n[anti-entropy]\n  enabled = false\n`);
    expect(isAntiEntropyEnabled(off)).toBe(false);
  });

  it("handles CRLF, spaced or quoted table names, quoted keys and an explicit false", () => {
    const crlf = `[ "anti-entropy" ] # AE\r\n  "enabled"=true\r\n[data]\r\n  enabled = true\r\n`;
    const off = withAntiEntropyDisabled(crlf);
    expect(off).toBe(
      `[ "anti-entropy" ] # AE\r\n  "enabled"=false\r\n[data]\r\n  enabled = true\r\n`,
    );
    expect(isAntiEntropyEnabled(`[anti-entropy]\nenabled = false\n`)).toBe(false);
    // a commented-out key is not the key
    expect(isAntiEntropyEnabled(`[anti-entropy]\n# enabled = false\n`)).toBe(true);
  });
});
