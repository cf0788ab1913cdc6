// Package plan chooses per-layer keep ratios that meet a cost budget (MACs or measured
// latency) with the least accuracy loss predicted by sensitivity curves. It is pure and
// fast, so the coordinator can call it inside its tuning loop.
package plan
