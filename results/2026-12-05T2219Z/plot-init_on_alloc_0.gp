set terminal pngcairo size 1400,1300 font ',10'
set datafile missing 'nan'
set key top left
set grid
set xlabel 'guest memory (GiB)'
set xrange [0.5:9]
set logscale y
idx(l, sc, m) = (l * 3 + sc) * 5 + m
$seed_idle << EOD
8 1769
8 271
EOD
$seed_work << EOD
8 2634
8 1265
EOD
modes = 'plain hint hint-wait reporting reporting-hint-wait'
set output 'time-init_on_alloc_0.png'
set multiplot layout 3,3 title 'migration time (QEMU total-time, median, bars min-max)'
set ylabel 'ms'
set title 'idle-fresh, link 1gbit'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(0, 0, m) u 1:2:3:4 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(0, 0, 0) u 1:8 w lp dt 2 t 'lower bound (in-use / bandwidth)'
set title 'idle-freed, link 1gbit'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(0, 1, m) u 1:2:3:4 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(0, 1, 0) u 1:8 w lp dt 2 t 'lower bound (in-use / bandwidth)', $seed_idle u 1:2 w p pt 7 ps 1.5 t 'seed idle (KVM, 100G)'
set title 'workload, link 1gbit'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(0, 2, m) u 1:2:3:4 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(0, 2, 0) u 1:8 w lp dt 2 t 'lower bound (in-use / bandwidth)', $seed_work u 1:2 w p pt 7 ps 1.5 t 'seed compile (KVM, 100G)'
set title 'idle-fresh, link 10gbit'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(1, 0, m) u 1:2:3:4 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(1, 0, 0) u 1:8 w lp dt 2 t 'lower bound (in-use / bandwidth)'
set title 'idle-freed, link 10gbit'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(1, 1, m) u 1:2:3:4 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(1, 1, 0) u 1:8 w lp dt 2 t 'lower bound (in-use / bandwidth)', $seed_idle u 1:2 w p pt 7 ps 1.5 t 'seed idle (KVM, 100G)'
set title 'workload, link 10gbit'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(1, 2, m) u 1:2:3:4 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(1, 2, 0) u 1:8 w lp dt 2 t 'lower bound (in-use / bandwidth)', $seed_work u 1:2 w p pt 7 ps 1.5 t 'seed compile (KVM, 100G)'
set title 'idle-fresh, link unlimited'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(2, 0, m) u 1:2:3:4 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(2, 0, 0) u 1:8 w lp dt 2 t 'lower bound (in-use / bandwidth)'
set title 'idle-freed, link unlimited'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(2, 1, m) u 1:2:3:4 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(2, 1, 0) u 1:8 w lp dt 2 t 'lower bound (in-use / bandwidth)', $seed_idle u 1:2 w p pt 7 ps 1.5 t 'seed idle (KVM, 100G)'
set title 'workload, link unlimited'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(2, 2, m) u 1:2:3:4 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(2, 2, 0) u 1:8 w lp dt 2 t 'lower bound (in-use / bandwidth)', $seed_work u 1:2 w p pt 7 ps 1.5 t 'seed compile (KVM, 100G)'
unset multiplot
set output 'bytes-init_on_alloc_0.png'
set multiplot layout 3,3 title 'memory sent (median, bars min-max)'
set ylabel 'MiB'
set title 'idle-fresh, link 1gbit'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(0, 0, m) u 1:5:6:7 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(0, 0, 0) u 1:9 w lp dt 2 t 'lower bound (in-use memory)'
set title 'idle-freed, link 1gbit'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(0, 1, m) u 1:5:6:7 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(0, 1, 0) u 1:9 w lp dt 2 t 'lower bound (in-use memory)'
set title 'workload, link 1gbit'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(0, 2, m) u 1:5:6:7 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(0, 2, 0) u 1:9 w lp dt 2 t 'lower bound (in-use memory)'
set title 'idle-fresh, link 10gbit'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(1, 0, m) u 1:5:6:7 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(1, 0, 0) u 1:9 w lp dt 2 t 'lower bound (in-use memory)'
set title 'idle-freed, link 10gbit'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(1, 1, m) u 1:5:6:7 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(1, 1, 0) u 1:9 w lp dt 2 t 'lower bound (in-use memory)'
set title 'workload, link 10gbit'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(1, 2, m) u 1:5:6:7 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(1, 2, 0) u 1:9 w lp dt 2 t 'lower bound (in-use memory)'
set title 'idle-fresh, link unlimited'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(2, 0, m) u 1:5:6:7 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(2, 0, 0) u 1:9 w lp dt 2 t 'lower bound (in-use memory)'
set title 'idle-freed, link unlimited'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(2, 1, m) u 1:5:6:7 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(2, 1, 0) u 1:9 w lp dt 2 t 'lower bound (in-use memory)'
set title 'workload, link unlimited'
plot for [m=0:4] 'plot-init_on_alloc_0.dat' index idx(2, 2, m) u 1:5:6:7 w yerrorlines t word(modes, m+1), 'plot-init_on_alloc_0.dat' index idx(2, 2, 0) u 1:9 w lp dt 2 t 'lower bound (in-use memory)'
unset multiplot
set output 'timeline-init_on_alloc_0.png'
unset logscale y
set autoscale x
set datafile separator ','
set key top right
set xlabel 'ms since the migration call'
set ylabel 'MiB'
set multiplot layout 1,3 title 'idle-freed 2 GiB, link 1gbit, run 0: memory sent, hinted and remaining while the migration runs'
set title 'hint'
plot 'trace/idle-freed-2g-1gbit-init_on_alloc_0-hint-0.csv' u 1:3 every ::1 w l lw 2 t 'sent', '' u 1:5 every ::1 w l lw 2 t 'hinted', '' u 1:4 every ::1 w l t 'remaining (dirty)', 'trace/idle-freed-2g-1gbit-init_on_alloc_0-plain-0.csv' u 1:3 every ::1 w l dt 2 t 'sent by plain'
set title 'hint-wait'
plot 'trace/idle-freed-2g-1gbit-init_on_alloc_0-hint-wait-0.csv' u 1:3 every ::1 w l lw 2 t 'sent', '' u 1:5 every ::1 w l lw 2 t 'hinted', '' u 1:4 every ::1 w l t 'remaining (dirty)', 'trace/idle-freed-2g-1gbit-init_on_alloc_0-plain-0.csv' u 1:3 every ::1 w l dt 2 t 'sent by plain'
set title 'reporting-hint-wait'
plot 'trace/idle-freed-2g-1gbit-init_on_alloc_0-reporting-hint-wait-0.csv' u 1:3 every ::1 w l lw 2 t 'sent', '' u 1:5 every ::1 w l lw 2 t 'hinted', '' u 1:4 every ::1 w l t 'remaining (dirty)', 'trace/idle-freed-2g-1gbit-init_on_alloc_0-reporting-0.csv' u 1:3 every ::1 w l dt 2 t 'sent by reporting'
unset multiplot
