// The version comes from package.json at build time: the import is bundled into the compiled
// binary, so nothing is read from disk when it runs.

import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;
