/**
 * The size limits of core's source (docs/architecture.md, "Sizes"): no file over 500 lines and no
 * function over 80, so that each file holds one concept and each function can be read at once.
 * A function may be longer only when the comment just before it starts with `Over 80 lines:` and
 * says why it must be so; a file likewise with `Over 500 lines:` in its first comment.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { sourceFiles } from './imports.js';

const FILE_LIMIT = 500;
const FUNCTION_LIMIT = 80;
const src = fileURLToPath(new URL('../src', import.meta.url));
const files = sourceFiles(src).filter((file) => !file.endsWith('.test.ts'));

interface Sized {
  where: string;
  lines: number;
}

const excused = (comments: string, limit: number) => comments.includes(`Over ${limit} lines:`);

function leadingComments(text: string, node: ts.Node): string {
  const ranges = ts.getLeadingCommentRanges(text, node.getFullStart()) ?? [];
  return ranges.map((range) => text.slice(range.pos, range.end)).join('\n');
}

function nameOf(node: ts.Node): string {
  const named = node as { name?: ts.Node };
  if (named.name && ts.isIdentifier(named.name)) return named.name.text;
  if (named.name && ts.isPrivateIdentifier(named.name)) return named.name.text;
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (parent && ts.isPropertyAssignment(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  return '(anonymous)';
}

/** Every function, method, accessor, constructor and arrow function longer than the limit. */
function longFunctions(file: string): Sized[] {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: Sized[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && (node as { body?: ts.Node }).body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      // The comment of an exported or declared function sits before its statement.
      const holder = ts.isVariableDeclaration(node.parent) ? node.parent.parent.parent : node;
      if (lines > FUNCTION_LIMIT && !excused(leadingComments(text, holder), FUNCTION_LIMIT)) {
        found.push({ where: `${relative(src, file)}:${start + 1} ${nameOf(node)}`, lines });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe("the size of core's source files and functions", () => {
  it(`no source file is over ${FILE_LIMIT} lines`, () => {
    const long = files
      .map((file) => {
        const text = readFileSync(file, 'utf8');
        return { where: relative(src, file), lines: text.split('\n').length - 1, head: text.slice(0, 2000) };
      })
      .filter(({ lines, head }) => lines > FILE_LIMIT && !excused(head, FILE_LIMIT))
      .map(({ where, lines }) => ({ where, lines }));
    expect(long).toEqual([]);
  });

  it(`no function is over ${FUNCTION_LIMIT} lines`, () => {
    expect(files.flatMap(longFunctions)).toEqual([]);
  });
});
