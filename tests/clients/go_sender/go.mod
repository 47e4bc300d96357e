module flamestream.test/gosender

go 1.19
