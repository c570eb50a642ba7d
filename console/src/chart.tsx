// Line charts over days (uPlot: small, canvas-drawn, no network).
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Series {
  label: string;
  values: (number | null)[];
  color: string;
}

const DAY_SECONDS = 86400;

/** A chart of `series` over `days` (YYYY-MM-DD). */
export function DayChart(props: { title: string; days: string[]; series: Series[]; unit?: string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const xs = props.days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000);
    const options: uPlot.Options = {
      width: Math.max(320, element.clientWidth),
      height: 220,
      // One day alone would make a range of zero width: show the days either side of it.
      scales: {
        x: { time: true, range: (_u, min, max) => (min === max ? [min - DAY_SECONDS, max + DAY_SECONDS] : [min, max]) },
      },
      axes: [{}, { label: props.unit ?? "", size: 70 }],
      series: [
        {},
        ...props.series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: xs.length < 40, size: 6 } })),
      ],
    };
    const data: uPlot.AlignedData = [xs, ...props.series.map((s) => s.values)];
    const plot = new uPlot(options, data, element);
    const resized = () => plot.setSize({ width: Math.max(320, element.clientWidth), height: 220 });
    window.addEventListener("resize", resized);
    return () => {
      window.removeEventListener("resize", resized);
      plot.destroy();
    };
  }, [props.days.join(), JSON.stringify(props.series)]);
  const empty = props.days.length === 0;
  return (
    <figure class="chart" data-chart={props.title}>
      <figcaption>{props.title}</figcaption>
      {empty ? <p class="muted">No days in this range.</p> : <div ref={box} />}
    </figure>
  );
}
