// Why the cmd: scanner (shell-scan.ts) refuses a ${ref} where it does, in words for the spec error.

export const ENV_HINT =
  'read the param from its environment variable instead (see "Params in cmd:" in README)';

/** Each context where a ref is refused: where it is, for the message, and what to do instead. */
export const REFUSED = {
  single: {
    context: "inside '…' (single quotes)",
    hint: `the shell expands nothing in '…', and such text is usually a program for another tool (awk, sed, python -c); close the quotes around the ref ('a'\${p}'b'), or ${ENV_HINT}`,
  },
  backtick: {
    context: 'inside `…` (backquotes)',
    hint: 'write $(…) instead of `…`: its quoting nests reliably',
  },
  param: {
    context: 'inside a shell ${…} expansion (e.g. ${x:-…})',
    hint: 'assign the ref to a shell variable first (v=${p}; echo "${x:-$v}"), or use it outside the ${…}',
  },
  arith: {
    context: 'inside $((…)) or ((…)) (arithmetic)',
    hint: 'only a whole-number value may go there: the shell evaluates the text as an expression (bash even runs $(…) in it); pass other values as an argument to a script',
  },
  comment: {
    context: 'inside a # comment',
    hint: 'a ref in a comment does nothing; remove it',
  },
  backslash: {
    context: 'right after a backslash',
    hint: 'a backslash before ${p} would quote the "$" of the variable; remove the backslash',
  },
  dollar: {
    context: 'right after a "$"',
    hint: 'separate the "$" from the ref, or write $${ for a literal "${"',
  },
  quotedBody: {
    context: "inside a quoted here-document (<<'EOF')",
    hint: 'the shell expands nothing there: use an unquoted delimiter (<<EOF), or pass the value as an argument',
  },
  delimiter: {
    context: 'in a here-document delimiter',
    hint: 'a here-document delimiter must be literal text',
  },
} as const;
