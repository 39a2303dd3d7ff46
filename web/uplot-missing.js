/* Stands in for uPlot when the build found no web/node_modules (run
 * scripts/deps.sh, then build again): the page says the chart is missing. */
window.DS_UPLOT_MISSING = true;
