from belka_lab.train import main

main()
