/**
 * The API report of a built entry: every name its .d.ts exports, with its kind and declaration,
 * then every declaration those refer to that the entry does not export (types a user meets in a
 * signature but cannot import). Comments are left out, so only a change of shape changes the
 * report. Read with the TypeScript compiler API from what tsup emitted, not from the sources:
 * it is what a package user sees.
 */
import ts from 'typescript';

export interface ApiEntry {
  name: string;
  kind: string;
  declaration: string;
}

const printer = ts.createPrinter({ removeComments: true, newLine: ts.NewLineKind.LineFeed });

function kindOf(node: ts.Node): string {
  if (ts.isClassDeclaration(node)) return 'class';
  if (ts.isInterfaceDeclaration(node)) return 'interface';
  if (ts.isTypeAliasDeclaration(node)) return 'type';
  if (ts.isFunctionDeclaration(node)) return 'function';
  if (ts.isEnumDeclaration(node)) return 'enum';
  if (ts.isVariableDeclaration(node)) return 'const';
  if (ts.isModuleDeclaration(node)) return 'namespace';
  return ts.SyntaxKind[node.kind];
}

/** The statement to print for a declaration: a variable's whole `declare const` statement. */
function statementOf(node: ts.Declaration): ts.Node {
  if (ts.isVariableDeclaration(node) && ts.isVariableStatement(node.parent.parent)) return node.parent.parent;
  return node;
}

function resolve(checker: ts.TypeChecker, symbol: ts.Symbol): ts.Symbol {
  return symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
}

/** Declarations of a symbol that come from the built package, not from Node's or a library's types. */
function ownDeclarations(symbol: ts.Symbol, distDir: string): ts.Declaration[] {
  return (symbol.declarations ?? []).filter((d) => d.getSourceFile().fileName.startsWith(distDir));
}

function describe(name: string, declarations: ts.Declaration[]): ApiEntry {
  const kinds = [...new Set(declarations.map(kindOf))];
  const declaration = declarations
    .map((d) => printer.printNode(ts.EmitHint.Unspecified, statementOf(d), d.getSourceFile()))
    .join('\n');
  return { name, kind: kinds.join(' + '), declaration };
}

/** Symbols named inside a declaration: type references, `typeof x`, `extends`/`implements` clauses. */
function referencedSymbols(checker: ts.TypeChecker, root: ts.Node): ts.Symbol[] {
  const found: ts.Symbol[] = [];
  const visit = (node: ts.Node): void => {
    let target: ts.Node | undefined;
    if (ts.isTypeReferenceNode(node)) target = node.typeName;
    else if (ts.isExpressionWithTypeArguments(node)) target = node.expression;
    else if (ts.isTypeQueryNode(node)) target = node.exprName;
    const symbol = target && checker.getSymbolAtLocation(target);
    if (symbol && !(symbol.flags & ts.SymbolFlags.TypeParameter)) found.push(resolve(checker, symbol));
    ts.forEachChild(node, visit);
  };
  visit(root);
  return found;
}

/** The report of the entry `dtsFile` (a tsup-built `dist/index.d.ts`), as sorted entries. */
export function apiEntries(dtsFile: string): { exported: ApiEntry[]; referenced: ApiEntry[] } {
  const program = ts.createProgram([dtsFile], { noEmit: true, skipLibCheck: true, types: ['node'] });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(dtsFile);
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  if (!moduleSymbol) throw new Error(`${dtsFile} is not a module`);
  const distDir = source.fileName.slice(0, source.fileName.lastIndexOf('/') + 1);

  const exported = new Map<ts.Symbol, string>();
  for (const symbol of checker.getExportsOfModule(moduleSymbol)) exported.set(resolve(checker, symbol), symbol.name);

  const referenced = new Map<ts.Symbol, ts.Declaration[]>();
  const queue = [...exported.keys()];
  for (const symbol of queue) {
    for (const declaration of ownDeclarations(symbol, distDir)) {
      for (const named of referencedSymbols(checker, declaration)) {
        const declarations = ownDeclarations(named, distDir);
        if (exported.has(named) || referenced.has(named) || declarations.length === 0) continue;
        referenced.set(named, declarations);
        queue.push(named); // walked in turn: the for-of sees what is pushed while it runs
      }
    }
  }
  const byName = (a: ApiEntry, b: ApiEntry) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return {
    exported: [...exported].map(([symbol, name]) => describe(name, ownDeclarations(symbol, distDir))).sort(byName),
    referenced: [...referenced].map(([symbol, declarations]) => describe(symbol.name, declarations)).sort(byName),
  };
}

const section = (entries: ApiEntry[]) =>
  entries.map((e) => `### \`${e.name}\` (${e.kind})\n\n\`\`\`ts\n${e.declaration}\n\`\`\`\n`).join('\n');

/** A Markdown table with its columns padded, as the formatter writes them. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

/** The API report as Markdown: the names table, the exported declarations, then the referenced ones. */
export function apiReport(entries: ReturnType<typeof apiEntries>, title: string, update: string): string {
  const { exported, referenced } = entries;
  return [
    `# ${title}`,
    '',
    `Generated from the built declarations by test/api.test.ts; do not edit by hand. A test fails`,
    `when the built public entry differs from this file; after a deliberate change, run`,
    `\`${update}\` and commit the result with the change.`,
    '',
    `${exported.length} exported names:`,
    '',
    ...table(
      ['name', 'kind'],
      exported.map((e) => [`\`${e.name}\``, e.kind]),
    ),
    '',
    '## Exported declarations',
    '',
    section(exported),
    '## Declarations they refer to that are not exported',
    '',
    referenced.length === 0 ? 'None.\n' : section(referenced),
  ].join('\n');
}
