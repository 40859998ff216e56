/**
 * Symbol.asyncDispose, which `await using` and the client's dispose methods
 * use: Node has it from 20.4 (and 18.18), as the registered symbol
 * Symbol.for('nodejs.asyncDispose'); on 20.0-20.3 it is defined here, only
 * if missing, as that same symbol, so that it agrees with what Node and its
 * polyfills use. Imported for its effect before any class that uses it.
 */
const symbols = Symbol as { asyncDispose?: symbol };
if (symbols.asyncDispose === undefined) {
  Object.defineProperty(Symbol, 'asyncDispose', { value: Symbol.for('nodejs.asyncDispose'), configurable: false, writable: false, enumerable: false });
}

export {};
