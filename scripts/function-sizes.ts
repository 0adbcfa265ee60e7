// The largest functions and files in src/ and stages/, for the "no function over ~60 lines, no file
// over ~300" aim of issue 16: `node --import tsx scripts/function-sizes.ts [N]`.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

const top = Number(process.argv[2] ?? 15);
const files = ['src', 'stages'].flatMap((dir) =>
  readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => join(dir, f)),
);
const functions: { lines: number; where: string }[] = [];
const sizes: { lines: number; file: string }[] = [];
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  sizes.push({ lines: text.split('\n').length, file });
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const end = source.getLineAndCharacterOfPosition(node.end).line;
      const name = (node as ts.FunctionDeclaration).name?.getText(source) ?? '(anonymous)';
      functions.push({ lines: end - start + 1, where: `${file}:${start + 1} ${name}` });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}
functions.sort((a, b) => b.lines - a.lines);
sizes.sort((a, b) => b.lines - a.lines);
console.log(`functions over 60 lines: ${functions.filter((f) => f.lines > 60).length}`);
for (const f of functions.slice(0, top)) console.log(`${String(f.lines).padStart(5)}  ${f.where}`);
console.log(`\nfiles over 300 lines: ${sizes.filter((f) => f.lines > 300).length}`);
for (const f of sizes.slice(0, top)) console.log(`${String(f.lines).padStart(5)}  ${f.file}`);
