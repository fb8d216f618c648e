set terminal pngcairo size 900,500 font ',10'
set output 'saves.png'
set datafile missing 'nan'
set key top left
set grid
set xlabel 'guest memory (GiB)'
set ylabel 'MiB'
set logscale y
set xrange [0.5:5]
set title 'save image, allocated (median, bars min-max)'
plot for [b=0:3] 'saves-plot.dat' index b u 1:2:3:4 w yerrorlines t word('raw raw-hints sparse sparse-hints', b+1), 'saves-plot.dat' index 0 u 1:5 w lp dt 2 t 'in-use memory'
