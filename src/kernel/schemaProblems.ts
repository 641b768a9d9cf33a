/**
 * What a caller is told when a body breaks its schema: the path and the kind of each
 * problem and what was expected there, never the value that was sent. Effect's own
 * formatters write "Expected X, actual <the value>", which would reflect a permit's
 * signature or an intent into an answer, a gateway's response log or an event.
 */
import { Option, type ParseResult, SchemaAST } from "effect";
import { jsonPath } from "./jsonPath.ts";

export interface SchemaProblem {
  /** `$` then the keys and indexes down to the problem, e.g. `$.permit.signature`. */
  readonly path: string;
  /** Missing, Unexpected, Type, Refinement or Forbidden (Effect's issue kinds). */
  readonly kind: string;
  /** What was expected there; never the value sent. */
  readonly message: string;
}

/**
 * The schema's own words for what it expects: a filter's message (the project's filters
 * name the problem, never the value), else the schema's message annotation, else its
 * description. Effect's built-in checks carry descriptions ("a string at most 4096
 * character(s) long") and set no message.
 */
function expected(ast: SchemaAST.AST, issue: ParseResult.ParseIssue): string {
  if (issue._tag === "Type" && issue.message !== undefined) return issue.message;
  const message = SchemaAST.getMessageAnnotation(ast);
  if (Option.isSome(message)) {
    const text = message.value(issue);
    if (typeof text === "string") return text;
    if (typeof text === "object" && "message" in text && typeof text.message === "string") return text.message;
  }
  const description = SchemaAST.getDescriptionAnnotation(ast).pipe(Option.orElse(() => SchemaAST.getTitleAnnotation(ast)));
  return `expected ${Option.getOrElse(description, () => String(ast))}`;
}

function collect(issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey>, out: SchemaProblem[]): void {
  switch (issue._tag) {
    case "Pointer":
      collect(issue.issue, [...path, ...(Array.isArray(issue.path) ? issue.path : [issue.path as PropertyKey])], out);
      return;
    case "Composite": {
      const inner: ReadonlyArray<ParseResult.ParseIssue> = Array.isArray(issue.issues) ? issue.issues : [issue.issues as ParseResult.ParseIssue];
      // An optional field is a union with `undefined`; a present but wrong value is not
      // usefully "expected undefined", so that member's issue is left out.
      const told = SchemaAST.isUnion(issue.ast) ? inner.filter((i) => !(i._tag === "Type" && SchemaAST.isUndefinedKeyword(i.ast))) : inner;
      for (const each of told.length > 0 ? told : inner) collect(each, path, out);
      return;
    }
    case "Transformation":
      collect(issue.issue, path, out);
      return;
    case "Refinement":
      if (issue.kind === "From") collect(issue.issue, path, out);
      // A filter that named where inside the value is wrong (a FilterIssue's path) is told there, in its own words.
      else if (issue.issue._tag === "Pointer") collect(issue.issue, path, out);
      else out.push({ path: jsonPath(path), kind: "Refinement", message: expected(issue.ast, issue) });
      return;
    case "Type":
      out.push({ path: jsonPath(path), kind: "Type", message: expected(issue.ast, issue) });
      return;
    case "Missing":
      out.push({ path: jsonPath(path), kind: "Missing", message: "is missing" });
      return;
    case "Unexpected":
      out.push({ path: jsonPath(path), kind: "Unexpected", message: "is not accepted here" });
      return;
    case "Forbidden":
      out.push({ path: jsonPath(path), kind: "Forbidden", message: "cannot be checked" });
      return;
  }
}

/** The problems of a failed decode, in the order the schema found them; no value of the input appears in them. */
export function schemaProblems(error: ParseResult.ParseError | ParseResult.ParseIssue): ReadonlyArray<SchemaProblem> {
  const out: SchemaProblem[] = [];
  collect("issue" in error && error._tag === "ParseError" ? error.issue : (error as ParseResult.ParseIssue), [], out);
  return out;
}
