// Package report renders a device class's tuning as one self-contained HTML page
// (inline CSS and SVG, no outside asset) and draws the SVG charts the dashboard shows.
package report
