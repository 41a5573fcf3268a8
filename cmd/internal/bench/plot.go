package bench

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Series is one line of a plot.
type Series struct {
	Name string
	X, Y []float64
}

// LinePlot writes a PNG (8×4.5 in) with one line per series. logX and logY
// put that axis on a log scale (values ≤ 0 are left out there).
func LinePlot(path, title, xLabel, yLabel string, series []Series, logX, logY bool) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	for i, s := range series {
		var xys plotter.XYs
		for j := range s.X {
			if (logX && s.X[j] <= 0) || (logY && s.Y[j] <= 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: s.X[j], Y: s.Y[j]})
		}
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		l.Dashes = plotutil.Dashes(i / 7)
		p.Add(l)
		p.Legend.Add(s.Name, l)
	}
	return p.Save(8*vg.Inch, 4.5*vg.Inch, path)
}

// Bars is one group member of a grouped bar chart: a value per category.
type Bars struct {
	Name   string
	Values []float64
}

// BarPlot writes a PNG grouped bar chart: one group per category, one bar
// per Bars in each group.
func BarPlot(path, title, yLabel string, categories []string, bars []Bars) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	w := vg.Points(60 / float64(max(1, len(bars))))
	for i, b := range bars {
		bc, err := plotter.NewBarChart(plotter.Values(b.Values), w)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		bc.Color = plotutil.Color(i)
		bc.LineStyle.Color = color.Black
		bc.Offset = w * vg.Length(float64(i)-float64(len(bars)-1)/2)
		p.Add(bc)
		p.Legend.Add(b.Name, bc)
	}
	p.NominalX(categories...)
	return p.Save(8*vg.Inch, 4.5*vg.Inch, path)
}
