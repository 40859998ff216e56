/**
 * The benchmark's entry point (`npm run bench -- OPTIONS`, or
 * `node dist/bench/src/run.js OPTIONS`). The benchmark is a tool of this
 * repository, not part of the installed package: it is compiled into
 * dist/bench/, which the package does not ship.
 */
import { benchMain } from './main.js';

void benchMain(process.argv.slice(2));
