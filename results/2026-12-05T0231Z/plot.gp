set terminal pngcairo size 1400,500 font ',10'
set datafile missing 'nan'
set key top left
set grid
set xlabel 'guest memory (GiB)'
set xrange [0.5:9]
set logscale y
idx(sc, m) = sc * 3 + m
set output 'time.png'
set multiplot layout 1,1 title 'migration time (QEMU total-time, median, bars min-max)'
set ylabel 'ms'
set title 'idle-fresh'
plot for [m=0:2] 'plot.dat' index idx(0, m) u 1:2:3:4 w yerrorlines t word('plain hint hint-wait', m+1), 'plot.dat' index idx(0, 0) u 1:8 w lp dt 2 t 'lower bound (in-use / bandwidth)'
unset multiplot
set output 'bytes.png'
set multiplot layout 1,1 title 'memory sent (median, bars min-max)'
set ylabel 'MiB'
set title 'idle-fresh'
plot for [m=0:2] 'plot.dat' index idx(0, m) u 1:5:6:7 w yerrorlines t word('plain hint hint-wait', m+1), 'plot.dat' index idx(0, 0) u 1:9 w lp dt 2 t 'lower bound (in-use memory)'
unset multiplot
set output 'timeline.png'
unset logscale y
set autoscale x
set datafile separator ','
set key top right
set xlabel 'ms since the migration call'
set ylabel 'MiB'
set multiplot layout 1,2 title 'idle-freed 1 GiB, run 0: memory sent, hinted and remaining while the migration runs'
set title 'hint'
plot 'trace/idle-freed-1g-hint-0.csv' u 1:3 every ::1 w l lw 2 t 'sent', '' u 1:5 every ::1 w l lw 2 t 'hinted', '' u 1:4 every ::1 w l t 'remaining (dirty)', 'trace/idle-freed-1g-plain-0.csv' u 1:3 every ::1 w l dt 2 t 'sent without hints'
set title 'hint-wait'
plot 'trace/idle-freed-1g-hint-wait-0.csv' u 1:3 every ::1 w l lw 2 t 'sent', '' u 1:5 every ::1 w l lw 2 t 'hinted', '' u 1:4 every ::1 w l t 'remaining (dirty)', 'trace/idle-freed-1g-plain-0.csv' u 1:3 every ::1 w l dt 2 t 'sent without hints'
unset multiplot
