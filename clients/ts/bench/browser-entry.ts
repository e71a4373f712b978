// The signing bench in a page: window.runBench() resolves to the figures.
import { signingBench } from "./signing.js";

(window as unknown as { runBench: typeof signingBench }).runBench = signingBench;
document.title = "bench ready";
