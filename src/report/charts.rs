//! Charts as SVG text, drawn with plotters' SVG backend. Text becomes `<text>` elements that the
//! browser lays out, so no font file is read (plotters is built without `ttf`/`font-kit`; its
//! text size estimate is only used for margins).

use plotters::prelude::*;

use super::ReportError;

/// One chart: its id (`chart-<id>` in the HTML), a title, and the SVG document.
#[derive(Debug, Clone)]
pub struct Chart {
    pub id: String,
    pub title: String,
    /// The figures the chart shows, in words (the figure's caption and the Markdown's text).
    pub caption: String,
    pub svg: String,
}

const W: u32 = 720;
const H: u32 = 340;
const BAR: RGBColor = RGBColor(0x2b, 0x6c, 0xb0);
const FONT: &str = "sans-serif";

fn err(id: &str, e: impl std::fmt::Display) -> ReportError {
    ReportError::Chart {
        chart: id.to_owned(),
        message: e.to_string(),
    }
}

/// Vertical bars, one per label, in the given order.
pub fn bars(
    id: &str,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    labels: &[String],
    values: &[u64],
    caption: String,
) -> Result<Chart, ReportError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(id, e))?;
        let n = labels.len().max(1) as u32;
        let max = values.iter().copied().max().unwrap_or(0).max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .caption(title, (FONT, 18))
            .x_label_area_size(46)
            .y_label_area_size(64)
            .build_cartesian_2d((0u32..n).into_segmented(), 0u64..max + max / 10 + 1)
            .map_err(|e| err(id, e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n as usize + 1)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style((FONT, 12))
            .draw()
            .map_err(|e| err(id, e))?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(BAR.filled())
                    .margin(6)
                    .data(values.iter().enumerate().map(|(i, v)| (i as u32, *v))),
            )
            .map_err(|e| err(id, e))?;
        root.present().map_err(|e| err(id, e))?;
    }
    Ok(Chart {
        id: id.to_owned(),
        title: title.to_owned(),
        caption,
        svg,
    })
}

/// A cumulative distribution on a logarithmic x axis: `points` are (x >= 1, share in percent),
/// x increasing.
pub fn cdf_log(
    id: &str,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    points: &[(f64, f64)],
    caption: String,
) -> Result<Chart, ReportError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(id, e))?;
        let x_max = points.last().map_or(10.0, |p| p.0).max(10.0) * 2.0;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .caption(title, (FONT, 18))
            .x_label_area_size(46)
            .y_label_area_size(64)
            .build_cartesian_2d((1f64..x_max).log_scale(), 0f64..100.0)
            .map_err(|e| err(id, e))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&|x| short(*x))
            .label_style((FONT, 12))
            .draw()
            .map_err(|e| err(id, e))?;
        // A step function: the share holds until the next bucket's bound.
        let mut steps = Vec::with_capacity(points.len() * 2);
        let mut last = points.first().map_or(0.0, |p| p.1);
        for &(x, y) in points {
            steps.push((x, last));
            steps.push((x, y));
            last = y;
        }
        chart
            .draw_series(LineSeries::new(steps, BAR.stroke_width(2)))
            .map_err(|e| err(id, e))?;
        root.present().map_err(|e| err(id, e))?;
    }
    Ok(Chart {
        id: id.to_owned(),
        title: title.to_owned(),
        caption,
        svg,
    })
}

/// `65536` -> `64Ki`-style short labels in powers of ten: `1`, `1k`, `1M`, `1G`.
fn short(x: f64) -> String {
    let (v, unit) = if x >= 1e9 {
        (x / 1e9, "G")
    } else if x >= 1e6 {
        (x / 1e6, "M")
    } else if x >= 1e3 {
        (x / 1e3, "k")
    } else {
        (x, "")
    };
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}{unit}")
    } else {
        format!("{v:.1}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_an_svg_with_text_and_one_rect_per_bar() {
        let labels: Vec<String> = ["none", "quarantine", "reject"].map(String::from).to_vec();
        let c = bars(
            "t",
            "DMARC p",
            "policy",
            "domains",
            &labels,
            &[5, 0, 7],
            String::new(),
        )
        .unwrap();
        assert!(c.svg.starts_with("<svg"), "{}", &c.svg[..80]);
        assert!(c.svg.contains("<text") && c.svg.contains("\nquarantine\n</text>"));
        assert!(!c.svg.contains("<image") && !c.svg.contains("href="));
    }

    #[test]
    fn cdf_draws_a_path() {
        let c = cdf_log(
            "c",
            "CDF",
            "x",
            "y",
            &[(1.0, 10.0), (256.0, 50.0), (65536.0, 100.0)],
            String::new(),
        )
        .unwrap();
        assert!(c.svg.contains("<polyline") || c.svg.contains("<path"));
    }

    #[test]
    fn short_labels() {
        assert_eq!(short(1.0), "1");
        assert_eq!(short(1000.0), "1k");
        assert_eq!(short(1.5e6), "1.5M");
        assert_eq!(short(4e9), "4G");
    }
}
