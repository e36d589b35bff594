import { formatRuleError, loadRules } from '../rules/load.js';

/** `converge check-rules DIR`: 0 when every file is valid, 2 with one line per problem. */
export function runCheckRules(dir: string): number {
  const { rules, errors } = loadRules(dir);
  for (const e of errors) process.stderr.write(formatRuleError(e) + '\n');
  if (errors.length > 0) {
    process.stderr.write(
      `${dir}: ${errors.length} problem(s); no rule from this directory would be loaded\n`,
    );
    return 2;
  }
  process.stdout.write(`${dir}: ${rules.rules.length} rules in ${rules.files.length} files, all valid\n`);
  return 0;
}
