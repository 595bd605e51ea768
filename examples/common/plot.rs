//! Line charts as PNG, for the examples that draw figures: a white canvas, a frame, grid lines
//! at the ticks with their numbers (a 3x5 pixel font of digits, enough for tick labels; axis
//! titles and legends go in the caption beside the picture), and series as lines or points;
//! a point outside the y range is left out.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::{Context, Result};

/// One series: its colour and its points in data units.
pub struct Series {
    /// RGB colour.
    pub rgb: [u8; 3],
    /// Points, in order of x.
    pub points: Vec<(f64, f64)>,
    /// Joined by lines (true) or drawn as separate dots.
    pub lines: bool,
}

/// A chart: the data ranges, the ticks and the series.
pub struct Chart {
    /// Pixels.
    pub width: usize,
    /// Pixels.
    pub height: usize,
    /// x range in data units.
    pub x: (f64, f64),
    /// y range in data units.
    pub y: (f64, f64),
    /// Grid lines and labels on the x axis: position, label.
    pub x_ticks: Vec<(f64, String)>,
    /// Grid lines and labels on the y axis: position, label.
    pub y_ticks: Vec<(f64, String)>,
    /// Horizontal reference lines (a threshold): y, colour.
    pub rules: Vec<(f64, [u8; 3])>,
    /// The series, drawn in order.
    pub series: Vec<Series>,
}

const MARGIN_LEFT: usize = 52;
const MARGIN_BOTTOM: usize = 24;
const MARGIN: usize = 12;
const GLYPH_SCALE: usize = 2;

/// Rows of a glyph, 3 bits each (bit 2 is the left column), top to bottom.
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b001, 0b001, 0b001],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '%' => [0b101, 0b001, 0b010, 0b100, 0b101],
        ' ' => [0; 5],
        _ => return None,
    })
}

struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn put(&mut self, x: usize, y: usize, rgb: [u8; 3]) {
        if x < self.width && y < self.height {
            let i = 3 * (y * self.width + x);
            self.pixels[i..i + 3].copy_from_slice(&rgb);
        }
    }

    fn line(&mut self, from: (f64, f64), to: (f64, f64), rgb: [u8; 3]) {
        let steps = (to.0 - from.0)
            .abs()
            .max((to.1 - from.1).abs())
            .ceil()
            .max(1.0) as usize;
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            let x = from.0 + t * (to.0 - from.0);
            let y = from.1 + t * (to.1 - from.1);
            // Two pixels thick.
            for (dx, dy) in [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0)] {
                self.put((x + dx).round() as usize, (y + dy).round() as usize, rgb);
            }
        }
    }

    fn text(&mut self, x: usize, y: usize, text: &str, rgb: [u8; 3]) {
        let mut left = x;
        for c in text.chars() {
            if let Some(rows) = glyph(c) {
                for (row, bits) in rows.iter().enumerate() {
                    for col in 0..3 {
                        if bits & (0b100 >> col) != 0 {
                            for sy in 0..GLYPH_SCALE {
                                for sx in 0..GLYPH_SCALE {
                                    self.put(
                                        left + col * GLYPH_SCALE + sx,
                                        y + row * GLYPH_SCALE + sy,
                                        rgb,
                                    );
                                }
                            }
                        }
                    }
                }
            }
            left += 4 * GLYPH_SCALE;
        }
    }
}

fn text_width(text: &str) -> usize {
    (text.chars().count() * 4).saturating_sub(1) * GLYPH_SCALE
}

impl Chart {
    /// Draws the chart and writes it to `path` as an RGB PNG.
    pub fn write_png(&self, path: &Path) -> Result<()> {
        let mut canvas = Canvas {
            width: self.width,
            height: self.height,
            pixels: vec![255; 3 * self.width * self.height],
        };
        let left = MARGIN_LEFT as f64;
        let right = (self.width - MARGIN) as f64;
        let top = MARGIN as f64;
        let bottom = (self.height - MARGIN_BOTTOM) as f64;
        let px = |x: f64| left + (x - self.x.0) / (self.x.1 - self.x.0) * (right - left);
        let py = |y: f64| bottom - (y - self.y.0) / (self.y.1 - self.y.0) * (bottom - top);
        let grid = [225, 225, 225];
        let ink = [60, 60, 60];
        for (x, label) in &self.x_ticks {
            canvas.line((px(*x), top), (px(*x), bottom), grid);
            let width = text_width(label);
            let at = (px(*x) as usize)
                .saturating_sub(width / 2)
                .min(self.width.saturating_sub(width + 2));
            canvas.text(at, bottom as usize + 6, label, ink);
        }
        for (y, label) in &self.y_ticks {
            canvas.line((left, py(*y)), (right, py(*y)), grid);
            let width = text_width(label);
            let at = (left as usize).saturating_sub(width + 6);
            canvas.text(at, (py(*y) as usize).saturating_sub(5), label, ink);
        }
        for (y, rgb) in &self.rules {
            let mut x = left;
            while x < right {
                canvas.line((x, py(*y)), ((x + 6.0).min(right), py(*y)), *rgb);
                x += 12.0;
            }
        }
        for corners in [
            ((left, top), (right, top)),
            ((right, top), (right, bottom)),
            ((right, bottom), (left, bottom)),
            ((left, bottom), (left, top)),
        ] {
            canvas.line(corners.0, corners.1, ink);
        }
        for series in &self.series {
            let mut previous: Option<(f64, f64)> = None;
            for &(x, y) in &series.points {
                // A point off the chart is not drawn, and breaks its line.
                if !(self.y.0..=self.y.1).contains(&y) {
                    previous = None;
                    continue;
                }
                let point = (px(x), py(y));
                if series.lines {
                    if let Some(from) = previous {
                        canvas.line(from, point, series.rgb);
                    }
                } else {
                    for dy in -2..=2 {
                        for dx in -2..=2 {
                            canvas.put(
                                (point.0 + f64::from(dx)).round() as usize,
                                (point.1 + f64::from(dy)).round() as usize,
                                series.rgb,
                            );
                        }
                    }
                }
                previous = Some(point);
            }
        }
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut encoder =
            png::Encoder::new(BufWriter::new(file), self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .write_header()?
            .write_image_data(&canvas.pixels)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}
