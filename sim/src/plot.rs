//! The plot of a run's [`Series`]: distinct state digests (1 = converged) and the number
//! of nodes that know each fork, against virtual time, with the splits and heals marked.
//! SVG only, through plotters' SVG backend, so no system font or image library is
//! needed.

use std::path::Path;

use plotters::prelude::*;

use crate::series::Series;

/// Plot size in pixels.
const SIZE: (u32, u32) = (1000, 520);
/// Colours of successive forks' lines.
const FORK_COLOURS: [RGBColor; 4] = [RED, MAGENTA, CYAN, RGBColor(230, 120, 0)];

/// Why a plot was not written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Only SVG is built in.
    #[error("plots are written as SVG only (give a .svg file): {0}")]
    Format(String),
    /// Drawing failed.
    #[error("drawing the plot: {0}")]
    Draw(String),
    /// Writing the file failed.
    #[error("writing the plot: {0}")]
    Io(#[from] std::io::Error),
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        PlotError::Draw(e.to_string())
    }
}

/// Renders `series` as an SVG document.
pub fn render_svg(series: &Series) -> Result<String, PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let x_max = (series.duration_ms as f64 / 1_000.0).max(1.0);
        let peak = series
            .samples
            .iter()
            .map(|s| s.distinct_digests)
            .max()
            .unwrap_or(1);
        let y_max = series.nodes.max(peak) as f64 + 1.0;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{} (seed {})", series.scenario, series.seed),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
        chart
            .configure_mesh()
            .x_desc("virtual time (s)")
            .y_desc("digests / nodes")
            .draw()?;

        // The partition schedule: a vertical line per split (grey) and heal (green).
        for (i, &(t_ms, split)) in series.partitions.iter().enumerate() {
            let x = t_ms as f64 / 1_000.0;
            let colour = if split {
                BLACK.mix(0.5)
            } else {
                GREEN.mix(0.8)
            };
            let drawn = chart.draw_series(LineSeries::new(
                [(x, 0.0), (x, y_max)],
                colour.stroke_width(2),
            ))?;
            // One legend entry per kind is enough.
            let first_of_kind = series.partitions[..i].iter().all(|&(_, s)| s != split);
            if first_of_kind {
                drawn
                    .label(if split { "split" } else { "heal" })
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
            }
        }

        let digests = series
            .samples
            .iter()
            .map(|s| (s.t_ms as f64 / 1_000.0, s.distinct_digests as f64));
        chart
            .draw_series(LineSeries::new(digests, BLUE.stroke_width(2)))?
            .label("distinct state digests (1 = converged)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));

        for (i, fork) in series.forks.iter().enumerate() {
            let colour = FORK_COLOURS[i % FORK_COLOURS.len()];
            chart
                .draw_series(LineSeries::new(
                    steps(&fork.learned_ms, x_max),
                    colour.stroke_width(2),
                ))?
                .label(format!(
                    "nodes knowing fork {}.. seq {}",
                    &fork.account[..fork.account.len().min(8)],
                    fork.seq
                ))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
        }

        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// Refuses a path that does not end in `.svg` (checked before a run's samples are paid
/// for, and again on writing).
pub fn check_path(path: &Path) -> Result<(), PlotError> {
    let is_svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if is_svg {
        Ok(())
    } else {
        Err(PlotError::Format(path.display().to_string()))
    }
}

/// Writes `series` as SVG to `path` (which must end in `.svg`).
pub fn write(series: &Series, path: &Path) -> Result<(), PlotError> {
    check_path(path)?;
    std::fs::write(path, render_svg(series)?)?;
    Ok(())
}

/// A step line from learning times: 0 until the first, k after the k-th, held to the
/// end of the run.
fn steps(learned_ms: &[u64], x_max: f64) -> Vec<(f64, f64)> {
    let mut out = vec![(0.0, 0.0)];
    for (k, &t) in learned_ms.iter().enumerate() {
        let x = t as f64 / 1_000.0;
        out.push((x, k as f64));
        out.push((x, k as f64 + 1.0));
    }
    out.push((x_max, learned_ms.len() as f64));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_rise_by_one_per_node() {
        let s = steps(&[1_000, 1_000, 2_500], 10.0);
        assert_eq!(
            s,
            vec![
                (0.0, 0.0),
                (1.0, 0.0),
                (1.0, 1.0),
                (1.0, 1.0),
                (1.0, 2.0),
                (2.5, 2.0),
                (2.5, 3.0),
                (10.0, 3.0)
            ]
        );
    }
}
