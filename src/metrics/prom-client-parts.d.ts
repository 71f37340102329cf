// Types of the prom-client files registry.ts loads one by one (see there): each is a CommonJS
// module whose export is the class prom-client's index re-exports.

declare module "prom-client/lib/registry.js" {
  const Registry: typeof import("prom-client").Registry;
  export default Registry;
}
declare module "prom-client/lib/gauge.js" {
  const Gauge: typeof import("prom-client").Gauge;
  export default Gauge;
}
