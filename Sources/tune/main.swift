TuneCommand.main()
