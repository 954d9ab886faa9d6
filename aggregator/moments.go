package aggregator

import "math"

// moments accumulates Count, Sum, Mean, SumSq and Stdev of a window.
// Sums use Neumaier's compensated summation and Stdev Welford's update, so
// that a window of a million samples loses no more precision than one of ten.
type moments struct {
	count       uint64
	sum, sumC   float64
	sumSq, sqC  float64
	mean, m2    float64 // Welford: running mean and sum of squared deviations
	welfordSize uint64
}

// neumaier adds x to the compensated sum (s, c).
func neumaier(s, c, x float64) (float64, float64) {
	t := s + x
	if math.Abs(s) >= math.Abs(x) {
		c += (s - t) + x
	} else {
		c += (x - t) + s
	}
	return t, c
}

func (m *moments) addSum(v float64) { m.sum, m.sumC = neumaier(m.sum, m.sumC, v) }

func (m *moments) addSumSq(v float64) { m.sumSq, m.sqC = neumaier(m.sumSq, m.sqC, v*v) }

func (m *moments) addWelford(v float64) {
	m.welfordSize++
	d := v - m.mean
	m.mean += d / float64(m.welfordSize)
	m.m2 += d * (v - m.mean)
}

func (m *moments) valueSum() float64   { return m.sum + m.sumC }
func (m *moments) valueSumSq() float64 { return m.sumSq + m.sqC }
func (m *moments) valueMean() float64  { return m.valueSum() / float64(m.count) }

// valueStdev is the sample standard deviation (n-1 in the denominator, as
// M3's); zero for a single sample.
func (m *moments) valueStdev() float64 {
	if m.welfordSize < 2 {
		return 0
	}
	return math.Sqrt(m.m2 / float64(m.welfordSize-1))
}
