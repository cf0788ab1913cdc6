// Package sensitivity measures how much accuracy a model loses when each prunable
// layer alone is pruned by increasing ratios, and keeps the result as curves that the
// planner and the coordinator reuse (JSON), a table and a plot.
package sensitivity
