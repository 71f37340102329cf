// Bundler-handled imports (scripts/build-ui.ts): CSS becomes the page's stylesheet.
declare module "*.css";
