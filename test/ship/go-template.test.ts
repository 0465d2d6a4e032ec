import { describe, expect, it } from "vitest";
import { ChartRenderer, type RenderContext, TemplateError } from "./go-template.js";

// The chart tests trust this renderer, so its Go-template semantics are pinned here first.

function render(source: string, values: Record<string, unknown> = {}, helpers = ""): string {
  const renderer = new ChartRenderer({
    templates: { "templates/_helpers.tpl": helpers, "templates/t.yaml": source },
  });
  const ctx: RenderContext = {
    Values: values,
    Release: { Name: "rel", Namespace: "ns", Service: "Helm", IsInstall: true, IsUpgrade: false },
    Chart: { Name: "chart", Version: "1.0.0", AppVersion: "2.0.0" },
  };
  return renderer.renderAll(ctx)["templates/t.yaml"] ?? "";
}

describe("go-template renderer", () => {
  it("trims whitespace on the marked side of an action only", () => {
    expect(render("a  {{- 1 }}  b")).toBe("a1  b");
    expect(render("a  {{ 1 -}}  \n b")).toBe("a  1b");
    expect(render("a\n{{- /* a comment */ -}}\nb")).toBe("ab");
    expect(render("x{{/* kept */}}y")).toBe("xy");
  });

  it("evaluates if / else if / else with Go truthiness", () => {
    const t = "{{ if .Values.a }}A{{ else if .Values.b }}B{{ else }}C{{ end }}";
    expect(render(t, { a: [1] })).toBe("A");
    expect(render(t, { a: [], b: "x" })).toBe("B");
    expect(render(t, { a: {}, b: "" })).toBe("C");
    expect(render(t, { a: 0, b: false })).toBe("C");
  });

  it("ranges over lists with index and element, and over maps in key order", () => {
    expect(
      render("{{ range $i, $v := .Values.l }}{{ $i }}={{ $v }};{{ end }}", { l: ["a", "b"] }),
    ).toBe("0=a;1=b;");
    expect(
      render("{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}", { m: { z: 1, a: 2 } }),
    ).toBe("a=2;z=1;");
    expect(render("{{ range .Values.l }}{{ . }}{{ else }}none{{ end }}", { l: [] })).toBe("none");
  });

  it("scopes := to the block and lets = update the outer variable", () => {
    const t =
      '{{- $all := list }}{{- range .Values.l }}{{- $all = append $all . }}{{- $inner := 1 }}{{- end }}{{ join "," (uniq $all) }}';
    expect(render(t, { l: ["a", "b", "a"] })).toBe("a,b");
    expect(() => render("{{ range .Values.l }}{{ $x := 1 }}{{ end }}{{ $x }}", { l: [1] })).toThrow(
      /undefined variable \$x/,
    );
  });

  it("fails like Helm on a field of a missing value, but not on a missing key", () => {
    expect(render("[{{ .Values.missing }}]")).toBe("[]");
    expect(() => render("{{ .Values.missing.key }}")).toThrow(
      /nil pointer evaluating interface \{\}\.key/,
    );
  });

  it("in strict mode refuses a missing key, which get tolerates", () => {
    const renderer = new ChartRenderer(
      { templates: { "templates/t.yaml": '{{ get .Values "a" }}|{{ .Values.a }}' } },
      { strict: true },
    );
    const ctx: RenderContext = {
      Values: {},
      Release: { Name: "rel", Namespace: "ns", Service: "Helm", IsInstall: true, IsUpgrade: false },
      Chart: { Name: "chart", Version: "1.0.0", AppVersion: "2.0.0" },
    };
    expect(() => renderer.renderAll(ctx)).toThrow(/map has no entry for key "a"/);
  });

  it("implements required, fail and default as Helm and Sprig do", () => {
    expect(() => render('{{ required "x is required" .Values.x }}', { x: "" })).toThrow(
      new TemplateError("x is required"),
    );
    expect(render('{{ required "x is required" .Values.x }}', { x: "ok" })).toBe("ok");
    expect(() => render('{{ fail "stop here" }}')).toThrow("stop here");
    expect(
      render('{{ .Values.x | default "d" }}/{{ default "d" .Values.y }}', { x: "", y: "v" }),
    ).toBe("d/v");
  });

  it("includes defines with their own $ and pipes into nindent", () => {
    const helpers = '{{- define "kv" -}}{{ .k }}: {{ .v | quote }}{{- end -}}';
    expect(render('a:{{- include "kv" (dict "k" "b" "v" 1) | nindent 2 }}', {}, helpers)).toBe(
      'a:\n  b: "1"',
    );
  });

  it("prints toYaml with sorted keys and no trailing newline", () => {
    expect(render("{{ toYaml .Values.o }}", { o: { b: [1], a: "x" } })).toBe("a: x\nb:\n- 1");
  });

  it("rejects functions it does not implement instead of guessing", () => {
    expect(() => render("{{ now }}")).toThrow(/function "now" not defined/);
  });
});
