// One string order for everything the operator and the CLI sort: by UTF-16 code unit, not by locale.
// Kubernetes names are ASCII ([a-z0-9.-]), where the two orders agree; a locale collator would also pull
// ICU's collation tables (megabytes of the node binary) into the operator's resident memory, and is slower.
export const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
