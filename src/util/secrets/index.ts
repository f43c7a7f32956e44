/** Secrets and the prompts that ask for them: PIN and password sources, hidden terminal input. */
export * from "./secrets.js";
export * from "./prompt.js";
