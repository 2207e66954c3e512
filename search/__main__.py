from search.cli.fastpath import main

main()
