/** The package ships no types: what test/helpers/prom-text.ts uses of it. */
declare module 'parse-prometheus-text-format' {
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
