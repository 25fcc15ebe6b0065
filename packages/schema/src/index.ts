// @fedval/schema — what every package that owns a document schema shares: the problem list of a refused document.
export { listProblems, parseDocument } from './problems.ts';
export { CONTROL_CHARACTER, CONTROL_CHARACTER_MESSAGE, plainText } from './plain-text.ts';
