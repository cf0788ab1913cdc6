// Package prune removes weights from a model graph: a dependency graph of coupled
// channels and the structured surgery built on it, unstructured masks, importance
// criteria, sparsity schedules, pruning targets, and the pruning API that ties them to
// fine-tuning.
package prune
