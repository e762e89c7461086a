import click
@click.command('validate')
def command() -> None:
    '''todo'''

