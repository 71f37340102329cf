// Migrations are imported `with { type: "text" }`, which Bun (and `bun build --compile`)
// turns into the file's contents; this tells TypeScript so.
declare module "*.sql" {
  const text: string;
  export default text;
}
