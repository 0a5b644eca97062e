// Run once in every new context, before any user script: gives `console`, takes away dynamic
// code, then freezes every object reachable from the global object, so that nothing one run
// does (a global, a changed prototype) is seen by the next. `emit(level, text)` is the host's.
(function (emit) {
  "use strict";
  const denied = (name) =>
    function () {
      throw new EvalError(name + " is not allowed in a code node");
    };
  // `eval`, `Function(...)` and the constructors of async and generator functions compile
  // code at run time: replaced by functions that throw, keeping `instanceof` working.
  const tame = (proto, name) => {
    const f = denied(name);
    Object.defineProperty(f, "prototype", { value: proto });
    Object.defineProperty(proto, "constructor", { value: f });
    return f;
  };
  const functionPrototype = Function.prototype;
  const tamed = tame(functionPrototype, "Function");
  tame(Object.getPrototypeOf(async function () {}), "AsyncFunction");
  tame(Object.getPrototypeOf(function* () {}), "GeneratorFunction");
  tame(Object.getPrototypeOf(async function* () {}), "AsyncGeneratorFunction");
  Object.defineProperty(globalThis, "Function", { value: tamed });
  Object.defineProperty(globalThis, "eval", { value: denied("eval") });

  const show = (value) => {
    if (typeof value === "string") return value;
    try {
      const json = JSON.stringify(value);
      return json === undefined ? String(value) : json;
    } catch (e) {
      return String(value);
    }
  };
  const line = (level) => (...args) => emit(level, args.map(show).join(" "));
  const console = {
    log: line(1),
    info: line(1),
    debug: line(0),
    warn: line(2),
    error: line(3),
  };
  Object.defineProperty(globalThis, "console", { value: console });

  // Frozen prototypes make assigning an inherited property (`err.name = …`, `o.toString =
  // …`) throw in strict code: the properties scripts commonly shadow become accessors whose
  // setter gives the object its own property, and refuses to change the shared one.
  const shadowable = (proto, keys) => {
    for (const key of keys) {
      const d = Object.getOwnPropertyDescriptor(proto, key);
      if (d === undefined || !("value" in d)) continue;
      const value = d.value;
      Object.defineProperty(proto, key, {
        get() {
          return value;
        },
        set(v) {
          if (this === proto) {
            throw new TypeError("cannot assign to " + String(key) + " of a shared prototype");
          }
          Object.defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true });
        },
        enumerable: d.enumerable,
        configurable: false,
      });
    }
  };
  const common = ["constructor", "toString", "valueOf", "toLocaleString", "hasOwnProperty", "toJSON"];
  shadowable(Object.prototype, common);
  shadowable(Array.prototype, common);
  shadowable(Function.prototype, common);
  for (const E of [Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError,
                   typeof AggregateError === "function" ? AggregateError : Error,
                   typeof InternalError === "function" ? InternalError : Error]) {
    shadowable(E.prototype, ["name", "message", ...common]);
  }

  const seen = new Set();
  const freeze = (value) => {
    if ((typeof value !== "object" && typeof value !== "function") || value === null || seen.has(value)) {
      return;
    }
    seen.add(value);
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) {
      const d = Object.getOwnPropertyDescriptor(value, key);
      if (d === undefined) continue;
      if ("value" in d) freeze(d.value);
      freeze(d.get);
      freeze(d.set);
    }
    freeze(Object.getPrototypeOf(value));
  };
  freeze(globalThis);
  for (const f of [async function () {}, function* () {}, async function* () {}, [][Symbol.iterator](), new Map().entries(), new Set().values(), "".matchAll(/a/g), ""[Symbol.iterator]()]) {
    freeze(Object.getPrototypeOf(f));
  }
})
