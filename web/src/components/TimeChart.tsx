// Time series with uPlot: canvas-drawn, 100k+ points smooth; drag to zoom, double-click to reset.
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export const PALETTE = ["#4ea1ff", "#f5a524", "#3fb68b", "#e5484d", "#b48cff", "#35c5d3", "#ff8cc6", "#c2c96b"];

export interface ChartSeries {
  label: string;
  color: string;
  dash?: number[];
  width?: number;
  steps?: boolean;
}

interface Props {
  data: uPlot.AlignedData; // x in seconds since the epoch, then one array per series
  series: ChartSeries[];
  timezone: string;
  yLabel: string;
  height?: number;
  testId?: string;
}

function options(width: number, props: Props): uPlot.Options {
  const { series, timezone, yLabel, height = 360 } = props;
  const axis = { stroke: "#8b98a5", grid: { stroke: "#1f2a33", width: 1 }, ticks: { stroke: "#1f2a33" } };
  return {
    width,
    height,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), timezone),
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true } },
    legend: { live: true },
    axes: [axis, { ...axis, label: yLabel, size: 60 }],
    series: [
      {},
      ...series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: s.width ?? 1.5,
        dash: s.dash,
        spanGaps: false,
        paths: s.steps ? uPlot.paths.stepped?.({ align: 1 }) : undefined,
        value: (_: uPlot, v: number | null) => (v === null || v === undefined ? "—" : v.toFixed(2)),
      })),
    ],
  };
}

export function TimeChart(props: Props) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const chart = new uPlot(options(element.clientWidth || 800, props), props.data, element);
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: element.clientWidth, height: props.height ?? 360 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // a new series set or zone needs new options; new data alone is set below without a rebuild
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [JSON.stringify(props.series), props.timezone, props.yLabel, props.height]);

  useEffect(() => {
    plot.current?.setData(props.data);
  }, [props.data]);

  return <div className="chart" ref={host} data-testid={props.testId} />;
}
