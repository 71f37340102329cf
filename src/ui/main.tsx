// Entry of the web UI bundle (scripts/build-ui.ts): the styles and the app.

import { render } from "preact";
import "./styles.css";
import { App } from "./app.tsx";

render(<App />, document.getElementById("app")!);
