from belka_lab.cli import main

main()
